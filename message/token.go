// Package message holds what a message is made of beyond its rendered
// text: the parts of a Markdown or HTML body, and the signed tokens of its
// one-click unsubscribe link. It imports no package of the project, so the
// process that renders messages and the workers that deliver them share it.
package message

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
)

// MinSecretLen is the shortest unsubscribe secret accepted: shorter ones
// are guessable offline from a single signed link.
const MinSecretLen = 16

// Token names who an unsubscribe link is for: a recipient of a campaign.
// A token of a test send names the contact the message was rendered for,
// and unsubscribes nobody.
type Token struct {
	Campaign uint64
	Contact  uint64
	Test     bool
}

// Signer signs and verifies unsubscribe tokens with one secret.
type Signer struct{ key []byte }

// ErrBadToken is a token that was not made with this secret, or was
// changed: it is refused without saying which.
var ErrBadToken = errors.New("the unsubscribe link is not valid")

const (
	tokenVersion = 1
	flagTest     = 1
	macLen       = 16 // 128 bits of HMAC-SHA256: forging one is out of reach
	// domain separates these MACs from any other use of the same secret.
	domain = "tui unsubscribe v1\x00"
)

// NewSigner returns a signer; the secret must be at least MinSecretLen bytes.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, errors.New("the unsubscribe secret must be at least 16 characters (make one with: openssl rand -hex 32)")
	}
	return &Signer{key: []byte(secret)}, nil
}

// Sign returns the token as URL-safe text (about 32 characters).
func (s *Signer) Sign(t Token) string {
	p := make([]byte, 0, 2+2*binary.MaxVarintLen64+macLen)
	flags := byte(0)
	if t.Test {
		flags |= flagTest
	}
	p = append(p, tokenVersion, flags)
	p = binary.AppendUvarint(p, t.Campaign)
	p = binary.AppendUvarint(p, t.Contact)
	p = append(p, s.mac(p)...)
	return base64.RawURLEncoding.EncodeToString(p)
}

// Verify checks a token's MAC in constant time and returns what it names.
func (s *Signer) Verify(text string) (Token, error) {
	if len(text) > 128 {
		return Token{}, ErrBadToken
	}
	// Strict: the unused bits of the last character must be zero, or two
	// spellings of one token would both verify.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(text)
	if err != nil || len(raw) < 4+macLen {
		return Token{}, ErrBadToken
	}
	payload, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sum, s.mac(payload)) {
		return Token{}, ErrBadToken
	}
	// Signed by us: the payload is well formed unless a future version
	// wrote it.
	if payload[0] != tokenVersion {
		return Token{}, ErrBadToken
	}
	t := Token{Test: payload[1]&flagTest != 0}
	rest := payload[2:]
	var n int
	if t.Campaign, n = binary.Uvarint(rest); n <= 0 {
		return Token{}, ErrBadToken
	}
	rest = rest[n:]
	if t.Contact, n = binary.Uvarint(rest); n <= 0 || n != len(rest) {
		return Token{}, ErrBadToken
	}
	return t, nil
}

// A link's path may carry, just before the token, a tag naming the
// database whose message it is: …/TAG/TOKEN. Tokens name a campaign and a
// contact by number, which two databases sharing a Redis number alike; the
// tag tells their requests apart. It is a segment of its own, not part of
// the token, so that a listener from before tags (which reads only the last
// segment) still honours the link.
const (
	tagIDLen  = 8
	tagMACLen = 10 // 80 bits: the tag only says whose a valid token is
	tagDomain = "tui unsubscribe database v1\x00"
)

// SignDatabase returns the tag of the database dbID (16 hex digits, as
// store.Identity makes them) for the link whose token is token.
func (s *Signer) SignDatabase(dbID, token string) (string, bool) {
	id, err := hex.DecodeString(dbID)
	if err != nil || len(id) != tagIDLen {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(append(id, s.tagMAC(id, token)...)), true
}

// VerifyDatabase returns the database a link's tag names, if the tag was
// made with this secret for this token.
func (s *Signer) VerifyDatabase(tag, token string) (string, bool) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tag)
	if err != nil || len(raw) != tagIDLen+tagMACLen {
		return "", false
	}
	id := raw[:tagIDLen]
	if !hmac.Equal(raw[tagIDLen:], s.tagMAC(id, token)) {
		return "", false
	}
	return hex.EncodeToString(id), true
}

func (s *Signer) tagMAC(id []byte, token string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(tagDomain))
	m.Write(id)
	m.Write([]byte(token))
	return m.Sum(nil)[:tagMACLen]
}

func (s *Signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(domain))
	m.Write(payload)
	return m.Sum(nil)[:macLen]
}
