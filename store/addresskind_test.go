package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// One file may hold people known by email, by phone and on Messenger: each
// row takes its address from the first address column it fills, and the
// contact records which kind it is.
func TestImportPSIDsPhonesAndEmailsInOneFile(t *testing.T) {
	s := fxOpen(t)
	csv := "name,email,phone,psid,last_interaction_at\n" +
		"Ada,ada@example.com,,,\n" + // line 2: email
		"Bob,,+1 (415) 555-0123,,\n" + // line 3: phone, E.164
		"Cat,,,1254477777772919,2025-02-28T10:00:00Z\n" + // line 4: PSID
		"Dan,,,26203292189261166,\n" + // line 5: PSID, 17 digits
		"Eve,,,1.25448E+15,\n" + // line 6: a PSID a spreadsheet rounded
		"Fay,,,12a4,\n" + // line 7: not a PSID
		"Gus,,,,\n" + // line 8: no address at all
		"Hal,,,psid:1254477777772919,\n" // line 9: the same PSID again
	rep, err := s.ImportCSV(context.Background(), strings.NewReader(csv), ImportOptions{Tags: []string{"fans"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 8 || rep.Created != 4 || rep.Invalid != 3 || rep.Duplicates != 1 {
		t.Fatalf("report %+v", rep)
	}
	wantProblems := []wantProblem{
		{6, "psid: \"1.25448E+15\" is a page-scoped ID a spreadsheet rounded"},
		{7, "psid: \"12a4\" is not a Messenger page-scoped ID"},
		{8, "the email, phone and psid columns are all empty"},
		{9, "psid:1254477777772919 repeats line 4"},
	}
	if len(rep.Problems) != len(wantProblems) {
		t.Fatalf("problems %+v", rep.Problems)
	}
	for i, w := range wantProblems {
		if p := rep.Problems[i]; p.Line != w.line || !strings.Contains(p.Reason, w.reason) {
			t.Errorf("problem %d: %+v, want line %d saying %q", i, p, w.line, w.reason)
		}
	}
	want := map[string]AddressKind{"ada@example.com": KindEmail, "+14155550123": KindPhone,
		"1254477777772919": KindPSID, "26203292189261166": KindPSID}
	err = s.ForEachContact(func(c Contact) error {
		if k, ok := want[c.Address]; !ok || k != c.Kind {
			return fmt.Errorf("contact %s of kind %q; want %q", c.Address, c.Kind, k)
		}
		delete(want, c.Address)
		return nil
	})
	if err != nil || len(want) > 0 {
		t.Fatalf("%v; not imported: %v", err, want)
	}
	// The window's field is an ordinary field, there for the preflight.
	cat, err := s.ContactByAddress("psid:1254477777772919")
	if err != nil || cat.Name != "Cat" || cat.Fields["last_interaction_at"] != "2025-02-28T10:00:00Z" {
		t.Fatalf("find by psid: %+v %v", cat, err)
	}
	// Importing the file again updates the same four contacts.
	rep, err = s.ImportCSV(context.Background(), strings.NewReader(csv), ImportOptions{})
	if err != nil || rep.Created != 0 || rep.Updated != 4 {
		t.Fatalf("second import: %+v %v", rep, err)
	}
}

// A PSID and a phone number with the same digits are two people.
func TestAPSIDNeverMergesWithAPhoneNumber(t *testing.T) {
	s := fxOpen(t)
	csv := "phone,psid\n1254477777772,\n,1254477777772\n"
	rep, err := s.ImportCSV(context.Background(), strings.NewReader(csv), ImportOptions{})
	if err != nil || rep.Created != 2 || rep.Duplicates != 0 {
		t.Fatalf("report %+v %v", rep, err)
	}
	phone, err := s.ContactByAddress("1254477777772")
	if err != nil || phone.Kind != KindPhone {
		t.Fatalf("phone: %+v %v", phone, err)
	}
	psid, err := s.ContactByAddress("psid:1254477777772")
	if err != nil || psid.Kind != KindPSID || psid.ID == phone.ID {
		t.Fatalf("psid: %+v %v", psid, err)
	}
	// Suppressing the PSID keeps the phone number in the audience.
	if _, err := s.Suppress("t", "psid:1254477777772", "asked to stop"); err != nil {
		t.Fatal(err)
	}
	c := fxCampaign("all")
	c.Tags = nil
	if n, err := s.AudienceSize(&c); err != nil || n != 1 {
		t.Fatalf("audience %d %v, want the phone number only", n, err)
	}
	if err := s.DeleteContact("t", psid.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContactByAddress("psid:1254477777772"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted PSID still found: %v", err)
	}
}

// A column can be named as the address column of any kind.
func TestImportAddressColumnsChosenPerColumn(t *testing.T) {
	s := fxOpen(t)
	csv := "Messenger ID,Mobile,name\n1254477777772919,,Ada\n,+44 20 7946 0958,Bob\n"
	cols := []AddressColumn{}
	for _, a := range []string{"Messenger ID=psid", "mobile=phone"} {
		col, err := ParseAddressColumn(a)
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, col)
	}
	rep, err := s.ImportCSV(context.Background(), strings.NewReader(csv), ImportOptions{AddressColumns: cols})
	if err != nil || rep.Created != 2 || fmt.Sprint(rep.Columns) != "[mobile name]" {
		t.Fatalf("report %+v %v", rep, err)
	}
	if c, err := s.ContactByAddress("psid:1254477777772919"); err != nil || c.Name != "Ada" {
		t.Fatalf("%+v %v", c, err)
	}
	// A named column the file lacks refuses the file whole.
	_, err = s.ImportCSV(context.Background(), strings.NewReader(csv), ImportOptions{AddressColumns: []AddressColumn{{Name: "fb", Kind: KindPSID}}})
	var ie *ImportError
	if !errors.As(err, &ie) || !strings.Contains(ie.Reason, `no column "fb"`) {
		t.Fatalf("missing column: %v", err)
	}
	if _, err := ParseAddressColumn("x=fax"); err == nil || !strings.Contains(err.Error(), "email, phone, psid or auto") {
		t.Fatalf("unknown kind: %v", err)
	}
}

func TestNormalizeAddressKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind AddressKind
		addr string
		got  AddressKind
		err  string
	}{
		{"1254477777772919", KindPSID, "1254477777772919", KindPSID, ""},
		{" psid:26203292189261166 ", "", "26203292189261166", KindPSID, ""},
		{"PSID:26203292189261166", "", "26203292189261166", KindPSID, ""},
		{"+1 (415) 555-0123", "", "+14155550123", KindPhone, ""},
		{"Ada@Example.com", "", "ada@example.com", KindEmail, ""},
		{"1254477777772919", "", "", KindPhone, "name its column psid"},
		{"1254477777772919", KindPhone, "", KindPhone, "name its column psid"},
		{"555-0100", KindEmail, "", KindEmail, "is not an email address"},
		{"2.62033E+16", KindPSID, "", KindPSID, "spreadsheet rounded"},
		{"1234", KindPSID, "", KindPSID, "5 to 20 digits"},
		{"", KindPSID, "", KindPSID, "empty"},
	} {
		addr, kind, err := NormalizeAddressKind(tc.in, tc.kind)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q as %q: %q %v, want an error saying %q", tc.in, tc.kind, addr, err, tc.err)
			}
			continue
		}
		if err != nil || addr != tc.addr || kind != tc.got {
			t.Errorf("%q as %q: %q %q %v, want %q %q", tc.in, tc.kind, addr, kind, err, tc.addr, tc.got)
		}
	}
}

// Records written before kinds existed read as email or phone.
func TestContactsWithoutAKindReadAsEmailOrPhone(t *testing.T) {
	s := fxOpen(t)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContacts)
		if err := b.Put(itob(1), []byte(`{"id":1,"address":"ada@example.com","tags":[],"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"}`)); err != nil {
			return err
		}
		return b.Put(itob(2), []byte(`{"id":2,"address":"+14155550123","tags":null,"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[uint64]AddressKind{}
	if err := s.ForEachContact(func(c Contact) error { kinds[c.ID] = c.Kind; return nil }); err != nil {
		t.Fatal(err)
	}
	if kinds[1] != KindEmail || kinds[2] != KindPhone {
		t.Fatalf("kinds %v", kinds)
	}
	if c, err := s.Contact(2); err != nil || c.Kind != KindPhone {
		t.Fatalf("Contact: %+v %v", c, err)
	}
	if k := RawContact(`{"id":2,"address":"+14155550123","tags":null}`).Kind(); k != KindPhone {
		t.Fatalf("raw kind %q", k)
	}
}

// A campaign goes only to the contacts its channel can reach; the others
// are left out, counted by reason.
func TestTheChannelChoosesWhomItCanReach(t *testing.T) {
	s := fxOpen(t)
	csv := "email,phone,psid\n" +
		"ada@example.com,,\nbob@example.com,,\n" + // two emails
		",+14155550123,\n" + // a phone with its country code
		",555-0100,\n,555-0101,\n" + // two without
		",,1254477777772919\n,,26203292189261166\n,,1254477777772920\n" // three PSIDs
	if _, err := s.ImportCSV(context.Background(), strings.NewReader(csv), ImportOptions{Tags: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		channel Channel
		size    int
		left    string
	}{
		{ChannelFile, 8, "[]"},
		{ChannelWebhook, 8, "[]"},
		{ChannelSMTP, 2, "[3 have a phone number, and the smtp channel sends only to email addresses [+14155550123 5550100 5550101]; " +
			"3 have a Messenger page-scoped ID, and the smtp channel sends only to email addresses [psid:1254477777772919 psid:26203292189261166 psid:1254477777772920]]"},
		{ChannelMessenger, 4, "[2 have an email address, and Messenger reaches only page-scoped IDs (psid) and phone numbers [ada@example.com bob@example.com]; " +
			"2 have a phone number without its country code, and Messenger needs one (+14155550123) [5550100 5550101]]"},
	} {
		c := fxCampaign(string(tc.channel))
		c.Channel, c.Tags = tc.channel, []string{"all"}
		if n, err := s.AudienceSize(&c); err != nil || n != tc.size {
			t.Errorf("%s: audience %d %v, want %d", tc.channel, n, err, tc.size)
		}
		left, err := s.UnreachableRecipients(&c)
		var parts []string
		for _, u := range left {
			parts = append(parts, fmt.Sprintf("%d %s %v", u.Count, u.Why, u.Examples))
		}
		if got := "[" + strings.Join(parts, "; ") + "]"; err != nil || got != tc.left {
			t.Errorf("%s: left out %s %v\nwant %s", tc.channel, got, err, tc.left)
		}
	}
	// The ledger of a messenger send holds the four it can reach.
	c := fxCampaign("m")
	c.Channel, c.Tags = ChannelMessenger, []string{"all"}
	c, err := s.CreateCampaign("t", c)
	if err != nil {
		t.Fatal(err)
	}
	_, st, err := s.StartSend("t", c.ID, c.Version)
	if err != nil || st.Total != 4 {
		t.Fatalf("start: %+v %v", st, err)
	}
}
