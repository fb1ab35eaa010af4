//go:build !liboqs

package kem

// liboqsBackend stands for the liboqs backend in a binary built without the
// "liboqs" build tag: it is listed, so that asking for it says why it is
// missing, but it makes no Scheme.
var liboqsBackend = backend{
	name:    BackendLiboqs,
	missing: "this binary was built without the liboqs build tag",
}
