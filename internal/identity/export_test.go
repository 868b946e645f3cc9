package identity

// HashToken exposes how tokens are stored, for tests.
var HashToken = hashToken
