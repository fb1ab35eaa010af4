//go:build liboqs

package cli

const buildTags = "liboqs"
