package main

import "errors"

func runParticipant(args []string) error {
	return errors.New("not implemented yet")
}
