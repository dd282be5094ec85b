package xskprog

// The include paths are Debian's multiarch homes of asm/types.h, which
// linux/bpf.h needs; only the one of the build machine exists.
//go:generate go tool bpf2go -tags linux -no-global-types xsk xsk.c -- -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
