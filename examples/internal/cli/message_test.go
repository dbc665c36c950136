package cli_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
)

func TestComposeEncodesAnyText(t *testing.T) {
	date := time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC)
	data, id, err := cli.Compose(cli.Message{
		From:    "helpdesk@contoso.test",
		To:      []string{"a@example.test", "b@example.test"},
		Subject: "Grüße",
		Body:    "Ünïcödé body",
		Date:    date,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{
		"From: <helpdesk@contoso.test>\r\n",
		"To: <a@example.test>, <b@example.test>\r\n",
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n",
		"Date: Mon, 23 Nov 2026 09:15:00 +0000\r\n",
		"Content-Type: text/plain; charset=utf-8\r\n",
		"Content-Transfer-Encoding: quoted-printable\r\n",
		"=C3=9Cn=C3=AFc=C3=B6d=C3=A9 body\r\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the message lacks %q:\n%s", want, s)
		}
	}
	if !strings.HasSuffix(id, "@contoso.test") {
		t.Errorf("Message-ID %q is not on the sender's domain", id)
	}

	// The message parses back to what was given.
	r, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := r.Header.Subject()
	gotID, _ := r.Header.MessageID()
	if subject != "Grüße" || gotID != id {
		t.Errorf("parsed subject %q, Message-ID %q (returned %q)", subject, gotID, id)
	}
}

func TestComposeNameAndIDHost(t *testing.T) {
	before := time.Now().Add(-time.Second)
	data, id, err := cli.Compose(cli.Message{From: "helpdesk@contoso.test", FromName: "Helpdesk", To: []string{"x@y.test"}, IDHost: "app.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `From: "Helpdesk" <helpdesk@contoso.test>`) || !strings.HasSuffix(id, "@app.invalid") {
		t.Errorf("Message-ID %q, message:\n%s", id, data)
	}
	r, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if date, err := r.Header.Date(); err != nil || date.Before(before) {
		t.Errorf("a zero Date is now: %v, %v", date, err)
	}
}
