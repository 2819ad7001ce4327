// Package clock gives components an injected notion of time.
//
// Real code passes Real; tests and simulations pass a *Fake and move it with
// Advance, so what depends on time happens at the same simulated instants on
// every run.
package clock
