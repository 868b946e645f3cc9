package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Password bounds: at least MinPasswordLength characters, at most
// MaxPasswordLength bytes (hashing work is bounded).
const (
	MinPasswordLength = 8
	MaxPasswordLength = 1024
)

// argon2id parameters (RFC 9106, section 7.4's second recommended option
// scaled down to 19 MiB, as OWASP's password storage guidance lists).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ErrWeakPassword is returned for a password outside the length bounds.
var ErrWeakPassword = fmt.Errorf("password must be %d to %d characters", MinPasswordLength, MaxPasswordLength)

// CheckPasswordPolicy reports whether pw may be set as a password.
func CheckPasswordPolicy(pw string) error {
	if len([]rune(pw)) < MinPasswordLength || len(pw) > MaxPasswordLength {
		return ErrWeakPassword
	}
	return nil
}

// HashPassword returns the argon2id hash of pw in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash), with a random salt.
func HashPassword(pw string) (string, error) {
	if len(pw) > MaxPasswordLength {
		return "", ErrWeakPassword
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("identity: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches encoded (from HashPassword),
// comparing in constant time. A malformed or empty encoded hash matches
// nothing, after the same work as a real check.
func VerifyPassword(encoded, pw string) bool {
	p, err := parseHash(encoded)
	if err != nil || len(pw) > MaxPasswordLength {
		VerifyPassword(dummyHash(), pw[:min(len(pw), MaxPasswordLength)])
		return false
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

type argonHash struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// parseHash decodes a PHC argon2id string, refusing parameters far beyond
// ours (a tampered row must not make a check hash gigabytes).
func parseHash(s string) (argonHash, error) {
	var h argonHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return h, errors.New("not an argon2id hash")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return h, errors.New("bad argon2id parameters")
	}
	if h.memory == 0 || h.memory > 256*1024 || h.time == 0 || h.time > 10 || h.threads == 0 || h.threads > 16 {
		return h, errors.New("argon2id parameters out of range")
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return h, errors.New("bad argon2id salt")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return h, errors.New("bad argon2id key")
	}
	return h, nil
}

var dummy = sync.OnceValue(func() string {
	h, err := HashPassword("spark-dummy-password-for-timing")
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return h
})

// dummyHash is a valid hash of a password nobody has, checked when the
// user does not exist so that the answer takes as long as a real check.
func dummyHash() string { return dummy() }
