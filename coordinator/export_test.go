package coordinator

// SmallTmpfs mounts a 64 KiB tmpfs for a test of package coordinator_test, or skips.
var SmallTmpfs = smallTmpfs
