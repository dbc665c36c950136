package google_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log"

	"github.com/mailoauth/mailoauth/provider/google"
	"github.com/mailoauth/mailoauth/provider/providertest"
)

// A Workspace mailbox through a service account with domain-wide
// delegation. In production keyJSON is the key file downloaded from Google
// Cloud console and the options WithBaseURL and WithHTTPClient are left
// out; here providertest plays Google.
func ExampleServiceAccount() {
	idp := providertest.New()
	defer idp.Close()

	// What the Google Cloud console and the Workspace admin set up.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyJSON, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"client_email":   "mailer@example-project.iam.gserviceaccount.com",
		"private_key_id": "0123abcd",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	idp.AddApp(providertest.App{
		ServiceAccountEmail: "mailer@example-project.iam.gserviceaccount.com",
		ServiceAccountKey:   &key.PublicKey,
		DelegatedScopes:     []string{google.ScopeMail},
	})

	mb, err := google.ServiceAccount(context.Background(), google.Config{ServiceAccountKey: keyJSON, Mailbox: "helpdesk@example.com", BaseURL: idp.URL(), HTTPClient: idp.Client()})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := mb.Tokens.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	user, err := idp.Verify(tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("mailbox:", mb.Address, "via", mb.SASLMechanism())
	fmt.Println("SMTP:", mb.SMTP.Addr(), mb.SMTP.Security)
	fmt.Println("IMAP:", mb.IMAP.Addr(), mb.IMAP.Security)
	fmt.Println("max recipients:", mb.Limits.MaxRecipients)
	fmt.Println("token is for:", user)
	// Output:
	// mailbox: helpdesk@example.com via XOAUTH2
	// SMTP: smtp.gmail.com:587 starttls
	// IMAP: imap.gmail.com:993 tls
	// max recipients: 100
	// token is for: helpdesk@example.com
}
