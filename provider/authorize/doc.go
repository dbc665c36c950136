// Package authorize gets a mailbox's first grant and saves it in a
// tokenstore.Store, where the provider packages' Delegated functions find
// it: the authorization code grant with PKCE as two http.Handlers a web app
// mounts (AuthCodeFlow), the device authorization grant for a console
// (DeviceFlow), and the loopback redirect for a program on a desk
// (LoopbackFlow). The provider packages return these flows ready to use:
// oidc.NewAuthCodeFlow and oidc.NewDeviceFlow for any standards server
// (endpoints from its discovery document, the callback's iss checked as
// RFC 9207 asks), entra.NewAuthCodeFlow, entra.NewDeviceFlow,
// google.NewLoopbackFlow.
//
//	flow, err := entra.NewAuthCodeFlow(cfg, store, "https://helpdesk.example.com/oauth/callback")
//	mux.Handle("/oauth/start", flow.StartHandler())
//	mux.Handle("/oauth/callback", flow.CallbackHandler())
package authorize
