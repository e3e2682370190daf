package audit

// ChainForTest exposes the chain hash, so a test can forge an entry the way
// someone with write access to the database would.
var ChainForTest = chain
