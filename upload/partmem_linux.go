//go:build linux && !race

package upload

import "golang.org/x/sys/unix"

// partMemoryMapped tells whether part buffers are mapped outside the Go heap in this build.
const partMemoryMapped = true

// allocPartMemory returns n zeroed bytes mapped outside the Go heap, and whether they are.
// Part buffers hold plaintext: outside the heap, they are not copied or moved by the runtime,
// they do not raise the garbage collector's heap goal (an upload's buffers would otherwise
// double its memory in garbage), and they are left out of core dumps. They are also locked in
// memory, so the kernel never writes them to swap, when the process may lock that much
// (CAP_IPC_LOCK or RLIMIT_MEMLOCK); if it may not, they are still used, unlocked.
func allocPartMemory(n int) ([]byte, bool) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), false
	}
	_ = unix.Madvise(b, unix.MADV_DONTDUMP)
	_ = unix.Mlock(b)
	return b, true
}

// freePartMemory unmaps memory from allocPartMemory(…) that was mapped.
func freePartMemory(b []byte) {
	_ = unix.Munmap(b)
}
