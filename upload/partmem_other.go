//go:build !linux

package upload

// allocPartMemory returns n zeroed bytes of the Go heap: part buffers are mapped outside it
// on Linux only (see partmem_linux.go).
func allocPartMemory(n int) ([]byte, bool) { return make([]byte, n), false }

func freePartMemory([]byte) {}
