package main

import "errors"

func runPrivacy(args []string) error {
	return errors.New("not implemented yet")
}
