package round

// AddMaskedForTest is addMasked, for the external tests.
var AddMaskedForTest = addMasked
