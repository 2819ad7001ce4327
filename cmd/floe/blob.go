package main

import "errors"

func runBlob(args []string) error {
	return errors.New("not implemented yet")
}
