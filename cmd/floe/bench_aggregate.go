package main

import "errors"

func benchAggregate(args []string) (any, error) {
	return nil, errors.New("not implemented yet")
}
