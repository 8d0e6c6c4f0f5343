package snapshot

// UseFsconfig lets tests force the /proc/self/fd mount fallback.
var UseFsconfig = &useFsconfig
