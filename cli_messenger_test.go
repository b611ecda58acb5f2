package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// The command line sets a messenger campaign's messaging type and tag on
// create and edit, refuses what the Send API would refuse, and shows them.
func TestCampaignCreateAndEditSetTheMessagingTypeAndTag(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tui.db")
	body := writeFile(t, dir, "body.txt", "Your order has shipped.\n")
	code, _, errOut := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "create", "--name", "Ship", "--channel", "messenger",
		"--body-file", body, "--messaging-type", "MESSAGE_TAG")
	if code != 1 || !strings.Contains(errOut, "--message-tag: MESSAGE_TAG needs a message tag: ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT") {
		t.Fatalf("MESSAGE_TAG without a tag: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runBinary(t, []string{"TUI_DB=" + db}, "campaign", "create", "--name", "Ship", "--channel", "smtp",
		"--from", "a@example.com", "--body-file", body, "--messaging-type", "UPDATE")
	if code != 1 || !strings.Contains(errOut, "--messaging-type: only messenger campaigns") {
		t.Fatalf("a messaging type on smtp: exit %d\n%s", code, errOut)
	}
	id := strings.TrimSpace(tuiOK(t, db, "campaign", "create", "--name", "Ship", "--channel", "messenger", "--body-file", body))
	show := func() (out struct {
		MessagingType string `json:"messaging_type"`
		MessageTag    string `json:"message_tag"`
		Version       int    `json:"version"`
	}) {
		if err := json.Unmarshal([]byte(tuiOK(t, db, "campaign", "show", id, "--json")), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if s := show(); s.MessagingType != "UPDATE" || s.MessageTag != "" {
		t.Fatalf("the default: %+v", s)
	}
	tuiOK(t, db, "campaign", "edit", id, "--message-tag", "post_purchase_update")
	if s := show(); s.MessagingType != "MESSAGE_TAG" || s.MessageTag != "POST_PURCHASE_UPDATE" || s.Version != 2 {
		t.Fatalf("after --message-tag: %+v", s)
	}
	if out := tuiOK(t, db, "campaign", "show", id); !strings.Contains(out, "MESSAGE_TAG, tag POST_PURCHASE_UPDATE") {
		t.Fatalf("campaign show does not show them:\n%s", out)
	}
	code, _, errOut = runBinary(t, []string{"TUI_DB=" + db}, "campaign", "edit", id, "--message-tag", "SHIPPING_UPDATE")
	if code != 1 || !strings.Contains(errOut, `unknown message tag "SHIPPING_UPDATE"`) || show().MessageTag != "POST_PURCHASE_UPDATE" {
		t.Fatalf("an unknown tag: exit %d\n%s", code, errOut)
	}
	tuiOK(t, db, "campaign", "edit", id, "--messaging-type", "response")
	if s := show(); s.MessagingType != "RESPONSE" || s.MessageTag != "" {
		t.Fatalf("after --messaging-type response: %+v", s)
	}
	if code, _, errOut := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "edit", id); code != 2 || !strings.Contains(errOut, "changes nothing") {
		t.Fatalf("edit without flags: exit %d\n%s", code, errOut)
	}
}

// contacts import reads PSIDs from a psid column, or from any column named
// with its kind; contacts list shows each contact's kind.
func TestImportPSIDsFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tui.db")
	csv := writeFile(t, dir, "fans.csv", "Name,Messenger ID,Mobile\nAda,1254477777772919,\nBob,,+14155550123\nCat,1.25448E+15,\n")
	code, out, errOut := runBinary(t, []string{"TUI_DB=" + db}, "contacts", "import", csv,
		"--address-column", "Messenger ID=psid", "--address-column", "mobile=phone")
	if code != 0 || !strings.Contains(out, "2 created") || !strings.Contains(errOut, "fans.csv:4: messenger_id: \"1.25448E+15\" is a page-scoped ID a spreadsheet rounded") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runBinary(t, []string{"TUI_DB=" + db}, "contacts", "import", csv, "--address-column", "x=fax"); code != 2 || !strings.Contains(errOut, "email, phone, psid or auto") {
		t.Fatalf("a bad kind: exit %d\n%s", code, errOut)
	}
	list := tuiOK(t, db, "contacts", "list")
	if !strings.Contains(list, "KIND") || !strings.Contains(lineOf(list, "1254477777772919"), "psid") || !strings.Contains(lineOf(list, "+14155550123"), "phone") {
		t.Fatalf("contacts list:\n%s", list)
	}
	var contacts []struct {
		Address string `json:"address"`
		Kind    string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(tuiOK(t, db, "contacts", "list", "--json")), &contacts); err != nil || len(contacts) != 2 ||
		contacts[0].Kind != "psid" || contacts[1].Kind != "phone" {
		t.Fatalf("contacts list --json: %+v %v", contacts, err)
	}
}

func lineOf(text, substr string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}
