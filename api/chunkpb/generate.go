// Package chunkpb holds the data path's protobuf API and its generated code:
// the ChunkMaster service (served by the primary master to chunkservers and
// clients) and the Chunkserver service (served by every chunkserver to the
// master, to clients and to other chunkservers).
//
// Regenerate after editing chunk.proto (needs protoc, e.g. Debian's
// protobuf-compiler; the Go plugins come from go.mod's tool directives):
//
//	go generate ./api/...
package chunkpb

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative chunk.proto"
