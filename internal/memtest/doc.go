// Package memtest measures how much memory a piece of code holds, for tests
// that bound it (the fold's, a repair's): the growth of the live heap while
// the code runs, with garbage collected often so that what is counted is
// what the code keeps, not what it dropped.
package memtest
