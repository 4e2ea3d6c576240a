// Package fusefs serves a master group's namespace as a FUSE file system
// (`master mount DIR`), so that cp, tar, rsync, find and any other program
// read and write it unchanged.
//
// What it guarantees:
//   - Directories, stat (size, mtime, mode), readdir, mkdir, rmdir,
//     unlink and rename map one to one onto the namespace; reads at any
//     offset go straight to the chunkservers through the client's
//     streaming Reader (read-ahead for sequential readers).
//   - A file created through the mount is written sequentially through the
//     client's streaming Writer under a hidden name and appears at its path,
//     with its size, when it is closed (as in HDFS); close(2) reports any
//     failure of the write. Opening an existing file with O_TRUNC rewrites
//     it the same way and replaces it on close.
//   - A write to a file opened with O_APPEND is one GFS record append: the
//     chunk's primary replica chooses its offset (see client.Append).
//   - Every call rides through master failovers: the client retries against
//     the new primary, and reads go on from the chunkservers meanwhile.
//
// What it does not do, and the errno a program gets:
//   - random overwrite (a write at any offset other than the end of a file
//     being written, or a write to an existing file without O_TRUNC or
//     O_APPEND): EOPNOTSUPP;
//   - hard links, symbolic links, device nodes: EPERM (link, mknod) and
//     EOPNOTSUPP (symlink);
//   - chmod to a mode other than 0644 (files) or 0755 (directories), chown
//     to another owner: EPERM; truncate to a size other than 0 or the
//     current size: EOPNOTSUPP;
//   - modification times are the master's: utimes is accepted and ignored
//     (so cp -p, tar and rsync -a work), stat shows when the master last
//     changed the entry.
//   - rename onto an existing file replaces it in two steps (delete, then
//     rename), not atomically.
//
// Attributes are not cached by the kernel (every stat asks the master), so
// a file closed by one process is seen with its size by the next.
package fusefs
