module toolgate.dev/test/go-http-client

go 1.22
