// Package masterpb holds the master's protobuf API and its generated code.
//
// Regenerate after editing master.proto (needs protoc, e.g. Debian's
// protobuf-compiler; the Go plugins come from go.mod's tool directives):
//
//	go generate ./api/...
package masterpb

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative master.proto"
