// Package secret encrypts spark's credentials at rest (account cookies,
// proxy URLs) and derives keyed fingerprints of them.
//
// A [Sealer] holds one primary 32-byte master key and, optionally, older
// keys that can still open what they sealed. Every purpose ("account-cookie",
// "account-proxy", ...) gets its own AES-256-GCM subkey derived from the
// master key with HKDF-SHA-256, so a ciphertext of one purpose never opens as
// another. Sealed values are self-describing:
//
//	byte 0      format version (1)
//	bytes 1..4  key id: the first 4 bytes of HKDF(master, info "spark/v1/key-id")
//	bytes 5..16 random 96-bit GCM nonce
//	bytes 17..  ciphertext and 16-byte GCM tag
//
// The version byte and key id are authenticated as additional data, together
// with the caller's own associated data (spark binds a cookie to its account
// id), so a ciphertext copied to another record fails to open. The key id
// lets a later key rotation find which master key sealed a value
// ([Sealer.IsCurrent]).
//
// [LoadOrCreateKey] finds the master key: SPARK_SECRET_KEY, or a key file
// generated once in DATA_DIR.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// KeySize is the size in bytes of a master key.
const KeySize = 32

// version is the current sealed-format version byte.
const version byte = 1

const (
	headerSize = 1 + 4 // version + key id
	nonceSize  = 12
	tagSize    = 16
)

// Errors returned by [Sealer.Open].
var (
	// ErrUnknownKey means the value was sealed with a master key this
	// Sealer does not hold (SPARK_SECRET_KEY or secret.key changed).
	ErrUnknownKey = errors.New("secret: sealed with an unknown key")
	// ErrInvalid means the value is malformed, was tampered with, or was
	// sealed for another purpose or associated data.
	ErrInvalid = errors.New("secret: invalid or tampered ciphertext")
)

// Sealer encrypts and authenticates small secrets with AES-256-GCM under
// per-purpose subkeys of a master key. It is safe for concurrent use.
type Sealer struct {
	primary *masterKey
	keys    map[uint32]*masterKey
}

type masterKey struct {
	id     uint32
	secret []byte
	aeads  sync.Map // purpose -> cipher.AEAD
	macs   sync.Map // purpose -> []byte (HMAC subkey)
}

// NewSealer returns a Sealer that seals with primary and opens values sealed
// with primary or any of previous. Every key must be [KeySize] bytes; the
// slices are copied.
func NewSealer(primary []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{keys: map[uint32]*masterKey{}}
	for i, k := range append([][]byte{primary}, previous...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secret: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		mk := &masterKey{id: KeyID(k), secret: append([]byte(nil), k...)}
		if _, dup := s.keys[mk.id]; dup {
			return nil, fmt.Errorf("secret: key %d duplicates key id %08x", i, mk.id)
		}
		s.keys[mk.id] = mk
		if i == 0 {
			s.primary = mk
		}
	}
	return s, nil
}

// KeyID returns the public identifier of a master key: the first 4 bytes of
// an HKDF-SHA-256 derivation, which reveal nothing usable about the key.
func KeyID(key []byte) uint32 {
	b, err := hkdf.Key(sha256.New, key, nil, "spark/v1/key-id", 4)
	if err != nil {
		panic(err) // only for absurd lengths
	}
	return binary.BigEndian.Uint32(b)
}

// KeyID returns the id of the primary key, for logs ("key 1a2b3c4d").
func (s *Sealer) KeyID() uint32 { return s.primary.id }

// Seal encrypts plaintext for purpose, binding it to aad (which may be nil
// and must be given again to [Sealer.Open]).
func (s *Sealer) Seal(purpose string, plaintext, aad []byte) ([]byte, error) {
	aead, err := s.primary.aead(purpose)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plaintext)+tagSize)
	out[0] = version
	binary.BigEndian.PutUint32(out[1:headerSize], s.primary.id)
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("secret: nonce: %w", err)
	}
	return aead.Seal(out, out[headerSize:], plaintext, additional(out[:headerSize], aad)), nil
}

// Open decrypts a value produced by [Sealer.Seal] with the same purpose and
// aad. It returns [ErrUnknownKey] if the value's key is not held, and
// [ErrInvalid] if it is malformed or fails authentication.
func (s *Sealer) Open(purpose string, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < headerSize+nonceSize+tagSize || sealed[0] != version {
		return nil, ErrInvalid
	}
	mk, ok := s.keys[binary.BigEndian.Uint32(sealed[1:headerSize])]
	if !ok {
		return nil, ErrUnknownKey
	}
	aead, err := mk.aead(purpose)
	if err != nil {
		return nil, err
	}
	nonce := sealed[headerSize : headerSize+nonceSize]
	pt, err := aead.Open(nil, nonce, sealed[headerSize+nonceSize:], additional(sealed[:headerSize], aad))
	if err != nil {
		return nil, ErrInvalid
	}
	return pt, nil
}

// IsCurrent reports whether sealed was sealed with the primary key; values
// sealed with a previous key should be re-sealed during a key rotation.
func (s *Sealer) IsCurrent(sealed []byte) bool {
	return len(sealed) >= headerSize && sealed[0] == version &&
		binary.BigEndian.Uint32(sealed[1:headerSize]) == s.primary.id
}

// MAC returns HMAC-SHA-256 of data under the primary key's subkey for
// purpose: a keyed fingerprint that lets a store find a secret by value
// without storing it. Fingerprints change when the primary key changes.
func (s *Sealer) MAC(purpose string, data []byte) []byte {
	key, err := s.primary.macKey(purpose)
	if err != nil {
		panic(err) // HKDF cannot fail for a 32-byte key and output
	}
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func additional(header, aad []byte) []byte {
	out := make([]byte, 0, len(header)+len(aad))
	return append(append(out, header...), aad...)
}

func (mk *masterKey) aead(purpose string) (cipher.AEAD, error) {
	if a, ok := mk.aeads.Load(purpose); ok {
		return a.(cipher.AEAD), nil
	}
	sub, err := hkdf.Key(sha256.New, mk.secret, nil, "spark/v1/aead/"+purpose, KeySize)
	if err != nil {
		return nil, fmt.Errorf("secret: derive key: %w", err)
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	a, _ := mk.aeads.LoadOrStore(purpose, aead)
	return a.(cipher.AEAD), nil
}

func (mk *masterKey) macKey(purpose string) ([]byte, error) {
	if k, ok := mk.macs.Load(purpose); ok {
		return k.([]byte), nil
	}
	sub, err := hkdf.Key(sha256.New, mk.secret, nil, "spark/v1/mac/"+purpose, KeySize)
	if err != nil {
		return nil, err
	}
	k, _ := mk.macs.LoadOrStore(purpose, sub)
	return k.([]byte), nil
}
