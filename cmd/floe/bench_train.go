package main

import "errors"

func benchTrain(args []string) (any, error) {
	return nil, errors.New("not implemented yet")
}
