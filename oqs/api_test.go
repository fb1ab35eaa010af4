package oqs_test

import (
	"github.com/kemtcp/kemtcp/oqs"
)

// The exported API, spelled out once and compiled with and without the
// liboqs build tag: the stub (stub.go) and the cgo binding (oqs.go) cannot
// drift apart without one of the two test builds failing.
var (
	_ bool   = oqs.Compiled
	_ string = oqs.MinLiboqsVersion

	_ func() error                                                        = oqs.Init
	_ func() string                                                       = oqs.LiboqsVersion
	_ func() []string                                                     = oqs.EnabledKEMs
	_ func(string) bool                                                   = oqs.IsKEMEnabled
	_ func() int                                                          = oqs.LiveSecretKeys
	_ func(string) (*oqs.KeyEncapsulation, error)                         = oqs.NewKEM
	_ func(*oqs.KeyEncapsulation) oqs.Details                             = (*oqs.KeyEncapsulation).Details
	_ func(*oqs.KeyEncapsulation) ([]byte, error)                         = (*oqs.KeyEncapsulation).GenerateKeyPair
	_ func(*oqs.KeyEncapsulation, []byte) ([]byte, error)                 = (*oqs.KeyEncapsulation).GenerateKeyPairDerand
	_ func(*oqs.KeyEncapsulation, []byte) error                           = (*oqs.KeyEncapsulation).ImportSecretKey
	_ func(*oqs.KeyEncapsulation) ([]byte, error)                         = (*oqs.KeyEncapsulation).ExportSecretKey
	_ func(*oqs.KeyEncapsulation) ([]byte, error)                         = (*oqs.KeyEncapsulation).ExportSeed
	_ func(*oqs.KeyEncapsulation, []byte) ([]byte, []byte, error)         = (*oqs.KeyEncapsulation).EncapSecret
	_ func(*oqs.KeyEncapsulation, []byte, []byte) ([]byte, []byte, error) = (*oqs.KeyEncapsulation).EncapSecretDerand
	_ func(*oqs.KeyEncapsulation, []byte) ([]byte, error)                 = (*oqs.KeyEncapsulation).DecapSecret
	_ func(*oqs.KeyEncapsulation) error                                   = (*oqs.KeyEncapsulation).Close

	_ = []error{
		oqs.ErrNotCompiled, oqs.ErrVersion, oqs.ErrUnknownKEM, oqs.ErrUnsupported, oqs.ErrClosed,
		oqs.ErrNoSecretKey, oqs.ErrNoSeed, oqs.ErrFailed, oqs.ErrArgument,
		oqs.ErrPublicKeyLength, oqs.ErrSecretKeyLength, oqs.ErrCiphertextLength,
		oqs.ErrKeypairSeedLength, oqs.ErrEncapsSeedLength,
	}
	_ = oqs.Details{
		Name: "", Version: "", ClaimedNISTLevel: 0, IsINDCCA: false,
		LengthPublicKey: 0, LengthSecretKey: 0, LengthCiphertext: 0, LengthSharedSecret: 0,
		LengthKeypairSeed: 0, LengthEncapsSeed: 0,
	}
)
