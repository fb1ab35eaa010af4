package oqs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests need no liboqs: they run with and without the build tag.

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"0.15.0", true},
		{"0.16.0", true},
		{"0.15.1", true},
		{"0.15.0-rc1", true},
		{"0.16.0-dev", true},
		{"1.0.0", true},
		{"0.100.0", true},
		{"0.14.0", false},
		{"0.14.9", false},
		{"0.9.99", false},
		{"0.0.0", false},
	} {
		got, err := versionAtLeast(tc.v, MinLiboqsVersion)
		require.NoError(t, err, tc.v)
		assert.Equal(t, tc.want, got, tc.v)
	}
}

func TestVersionAtLeastBadInput(t *testing.T) {
	for _, v := range []string{"", "0.15", "0.15.0.1", "x.y.z", "0.15.a", "0.+15.0", "0.-1.0", "0..0", " 0.15.0"} {
		_, err := versionAtLeast(v, MinLiboqsVersion)
		require.Error(t, err, "%q", v)
		assert.Contains(t, err.Error(), "cannot parse liboqs version")
		assert.Contains(t, err.Error(), `"`+v+`"`)
	}
}
