// Package repocheck has no code: its tests keep the repository's documents
// and build files honest. They check that every command in README.md exists
// and takes the flags it is shown with, that the README's example sessions
// are what the programs really print, that CI runs the README's test
// command, and that the Dockerfile's liboqs pins match the Makefile's.
package repocheck
