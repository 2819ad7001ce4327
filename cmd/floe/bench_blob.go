package main

import "errors"

func benchBlob(args []string) (any, error) {
	return nil, errors.New("not implemented yet")
}
