// Command floe is the single binary of the floe federated-learning coordinator.
//
// Each subcommand lives in its own file and is wired explicitly in commands below.
package main
