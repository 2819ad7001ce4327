package main

import "errors"

func runAudit(args []string) error {
	return errors.New("not implemented yet")
}
