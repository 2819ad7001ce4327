package main

import "errors"

func runCoordinator(args []string) error {
	return errors.New("not implemented yet")
}
