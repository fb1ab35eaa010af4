// Package session implements kemtcp's session protocol, version 1: a secure
// channel over length-prefixed frames whose keys come from two ML-KEM
// (FIPS 203) encapsulations, one to the server's static key and one to a
// fresh ephemeral key. The specification is PROTOCOL.md in the repository's
// shared documents; this package follows it byte for byte, and
// testdata/session-v1.json holds its known answers.
//
// The pipeline, in the order the bytes flow:
//
//	server                                              client
//	------                                              ------
//	dk_e <- GenerateKey()             (ephemeral, per connection)
//	ServerHello = Magic || Version || kem_id || ek_s || ek_e      -> frame ->
//	                                    ParseServerHello: magic, version, kem_id,
//	                                    exact length; modulus check of ek_s and
//	                                    ek_e; ClientConfig.VerifyServerKey(ek_s)
//	                                    (ss_s, ct_s) <- Encaps(ek_s)
//	                                    (ss_e, ct_e) <- Encaps(ek_e)
//	<- frame <- ClientHello = Magic || Version || kem_id || ct_s || ct_e
//	ParseClientHello; ss_s <- Decaps(dk_s, ct_s); ss_e <- Decaps(dk_e, ct_e);
//	Destroy(dk_e)
//	          both: th      = SHA-256(ServerHello || ClientHello)
//	                prk     = HKDF-Extract(salt = th, ikm = ss_e || ss_s)
//	                key_c2s = HKDF-Expand(prk, LabelClientToServer, 32)
//	                key_s2c = HKDF-Expand(prk, LabelServerToClient, 32)
//	                (ss_e, ss_s, prk and the keys are wiped once the AEADs exist)
//	record s2c 0: FINISHED (empty)                                -> frame ->
//	                                    opens it, or ErrKeyConfirmation; only
//	                                    now may the client send anything
//	records both ways: AES-256-GCM(key_dir, nonce = 0^32 || seq_dir (u64),
//	                               plaintext = type || body, aad = empty)
//	DATA ... DATA, then CLOSE (nothing follows it)
//
// Files, one per concept: messages.go (wire constants and sizes), hello.go
// (ServerHello and ClientHello), schedule.go (the key schedule), record.go
// (sealing and opening one record), reader.go (reading record frames),
// buffers.go (record buffers), conn.go (the record layer of an established
// session), handshake.go (the two handshake state machines), errors.go (the
// sentinel errors).
//
// Server and Client run the handshake over any io.ReadWriter, usually a
// net.Conn. They set no deadlines and never close the connection: the caller
// sets a handshake deadline on its net.Conn, and closes it when an error is
// returned. The returned Conn's Send and Recv do not allocate in the steady
// state, and an idle Conn holds at most a few KiB of buffers.
package session
