// Package archive owns Berth's tar handling: the safe extraction of image layers into overlayfs layer
// directories (AUFS whiteouts become overlay whiteouts), extraction into a container's rootfs for `docker cp`,
// the change list and layer tar of an overlay upper directory (`docker diff`, `docker commit`), and the plain
// tar of a directory tree (`docker export`, `docker cp` out).
//
// Every path an archive names is resolved inside the extraction root, the way a chroot would resolve it:
// symlinks already in the tree are followed but can never leave the root, the final component of an entry is
// never followed, and names that climb out of the root with ".." are rejected with an error wrapping
// errdefs.ErrInvalidArgument. Trees are read through directory file descriptors without following symlinks,
// so a container that swaps a directory for a symlink while it is being read cannot redirect the reader onto
// the host.
package archive
