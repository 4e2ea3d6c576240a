// Package etcdprobe tells, at once, why etcd cannot be reached where etcd's
// client would only wait out its dial timeout: an endpoint that actively
// refuses connections (nothing listens there) is known within a round trip.
// It does not judge an endpoint that accepts, times out or is not TCP; the
// real request decides those.
package etcdprobe
