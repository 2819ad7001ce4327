// Package prefetch opens a round's submissions ahead of the fold that asks
// for them, a bounded window at a time: the coordinator's fold and the
// audit's replay read updates with it, so fetching overlaps folding and
// memory stays O(window x update).
package prefetch
