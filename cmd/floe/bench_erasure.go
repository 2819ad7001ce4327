package main

import "errors"

func benchErasure(args []string) (any, error) {
	return nil, errors.New("not implemented yet")
}
