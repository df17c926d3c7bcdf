//go:build !linux || race

package upload

// partMemoryMapped tells whether part buffers are mapped outside the Go heap in this build.
const partMemoryMapped = false

// allocPartMemory returns n zeroed bytes of the Go heap: part buffers are mapped outside it
// on Linux only (see partmem_linux.go), and not in -race builds, whose detector does not see
// memory outside the heap: there, buffer lifetimes stay checked.
func allocPartMemory(n int) ([]byte, bool) { return make([]byte, n), false }

func freePartMemory([]byte) {}
