package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// Ledger rows are the most numerous records (one per recipient per send)
// and are written and read in bulk, so they use a compact binary form:
//
//	version(2) state(1) uvarint(attempts) uvarint(campaign) uvarint(contact)
//	uvarint(round) uvarint(len) address  uvarint(len) last error
//	varint(updated, unix ns)
//
// The state byte's top bit says the recipient was possibly delivered twice.
//
// Version 1 lacked the round (it was 1). A record starting with '{' is JSON.

const ledgerCodecVersion = 2

var recipientStates = []RecipientState{RecipientQueued, RecipientRetrying, RecipientSent,
	RecipientFailed, RecipientSkipped, RecipientCancelled}

func stateCode(s RecipientState) byte {
	for i, x := range recipientStates {
		if x == s {
			return byte(i)
		}
	}
	return 255
}

func appendLedgerEntry(dst []byte, e *LedgerEntry) ([]byte, error) {
	return appendLedgerRow(dst, e, e.Address)
}

// appendLedgerRow encodes e with addr as its address: a start writes a row
// per recipient straight from the contact record's bytes.
func appendLedgerRow[A string | []byte](dst []byte, e *LedgerEntry, addr A) ([]byte, error) {
	code := stateCode(e.State)
	if code == 255 {
		return nil, errors.New("unknown recipient state " + string(e.State))
	}
	if e.Redelivered {
		code |= redeliveredBit
	}
	dst = append(dst, ledgerCodecVersion, code)
	dst = binary.AppendUvarint(dst, uint64(e.Attempts))
	dst = binary.AppendUvarint(dst, e.CampaignID)
	dst = binary.AppendUvarint(dst, e.ContactID)
	dst = binary.AppendUvarint(dst, uint64(e.Round))
	dst = binary.AppendUvarint(dst, uint64(len(addr)))
	dst = append(dst, addr...)
	dst = binary.AppendUvarint(dst, uint64(len(e.LastError)))
	dst = append(dst, e.LastError...)
	return binary.AppendVarint(dst, e.UpdatedAt.UnixNano()), nil
}

var errLedgerRecord = errors.New("corrupt ledger record")

const redeliveredBit = 0x80

func decodeLedgerEntry(raw []byte, e *LedgerEntry) error {
	if len(raw) > 0 && raw[0] == '{' {
		return json.Unmarshal(raw, e)
	}
	if len(raw) < 2 || (raw[0] != 1 && raw[0] != ledgerCodecVersion) || int(raw[1]&^redeliveredBit) >= len(recipientStates) {
		return errLedgerRecord
	}
	version := raw[0]
	e.State = recipientStates[raw[1]&^redeliveredBit]
	e.Redelivered = raw[1]&redeliveredBit != 0
	p := raw[2:]
	next := func() uint64 {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			p = nil
			return 0
		}
		p = p[n:]
		return v
	}
	str := func() string {
		n := next()
		if uint64(len(p)) < n {
			p = nil
			return ""
		}
		s := string(p[:n])
		p = p[n:]
		return s
	}
	e.Attempts = int(next())
	e.CampaignID = next()
	e.ContactID = next()
	e.Round = 1
	if version >= 2 {
		e.Round = int(next())
	}
	e.Address = str()
	e.LastError = str()
	ns, n := binary.Varint(p)
	if n <= 0 || len(p) != n {
		return errLedgerRecord
	}
	e.UpdatedAt = time.Unix(0, ns).UTC()
	return nil
}

// rawContactAddress is contactAddress without a copy: the address's bytes in
// the record, when the record starts as the encoders write it (id, then an
// address without escapes); ok is false otherwise.
func rawContactAddress(raw []byte) (addr []byte, ok bool) {
	s := scanner{b: raw}
	if !s.expect('{') {
		return nil, false
	}
	if k, ok := s.rawStr(); !ok || string(raw[k.start:k.end]) != "id" || !s.expect(':') || !s.rawDigits(false) || !s.expect(',') {
		return nil, false
	}
	if k, ok := s.rawStr(); !ok || string(raw[k.start:k.end]) != "address" || !s.expect(':') {
		return nil, false
	}
	v, ok := s.rawStr()
	if !ok {
		return nil, false
	}
	return raw[v.start:v.end], true
}
