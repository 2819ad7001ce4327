package main

import "errors"

func runKeygen(args []string) error {
	return errors.New("not implemented yet")
}
