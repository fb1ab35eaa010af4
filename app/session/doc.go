// Package session is kemtcp's secure channel: a net.Conn whose keys come
// from KEM encapsulations (ML-KEM, FIPS 203, or the X-Wing hybrid), shaped
// like crypto/tls.
//
//	// Server
//	ln, err := session.Listen("tcp", ":5000", &session.ServerConfig{Scheme: s, Static: dk})
//	c, err := ln.Accept() // a *session.Conn; the handshake runs on first use
//
//	// Client
//	c, err := session.Dial("tcp", "host:5000", &session.ClientConfig{Scheme: s, VerifyServerKey: pin})
//	c.Write(...); c.Read(...); c.CloseWrite(); c.Close()
//
// The server authenticates with its static KEM key: the client encapsulates
// to it and to a fresh ephemeral key, and only the holder of the static
// private key can derive the traffic keys (its FINISHED proves it). Pin the
// key with ClientConfig.VerifyServerKey. A server may require client keys
// too (ServerConfig.VerifyClientKey): the client then proves it holds its
// key the same way, and only the server learns which key it is.
//
// Records are AES-256-GCM with counter nonces; each direction updates its
// key on its own before a usage limit is near, so a connection carries any
// amount of data. ConnectionState gives the KEM, both keys' fingerprints,
// and ExportKeyingMaterial to bind other protocols to the session.
//
// PROTOCOL.md next to this file is the specification, versions 1 and 2;
// testdata holds known answers made by an independent implementation.
package session
