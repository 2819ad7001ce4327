package main

import "errors"

func runModels(args []string) error {
	return errors.New("not implemented yet")
}
