package main

import "errors"

func runStorageNode(args []string) error {
	return errors.New("not implemented yet")
}
