// go-server: the Go reference peer that `udsctl serve` is compared against.
//
//	go-server -path PATH|@abstract
//
// One goroutine per connection: read once into a 512-byte buffer, write
// "OK+ at 15:04:05\n" (local time), close. A client that closes without
// sending gets nothing. Prints "listening PATH" on stdout once it accepts
// connections; removes the socket file on SIGTERM/SIGINT. Standard library
// only, so it builds without a module or a network.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func handle(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 512)
	if _, err := conn.Read(buf); err != nil {
		return
	}
	conn.Write([]byte("OK+ at " + time.Now().Format("15:04:05") + "\n"))
}

func main() {
	path := flag.String("path", "", "socket path, or @name for a Linux abstract socket")
	flag.Parse()
	if *path == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go-server -path PATH|@abstract")
		os.Exit(2)
	}
	abstract := strings.HasPrefix(*path, "@")
	if !abstract {
		os.Remove(*path)
	}
	if os.Getenv("UDSCTL_PERF_DIE_WITH_PARENT") != "" {
		// Ends this server if the harness that started it dies without stopping it.
		syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
		if os.Getppid() == 1 {
			os.Exit(1)
		}
	}
	ln, err := net.Listen("unix", *path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-server:", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		ln.Close() // a listener made by net.Listen unlinks its socket file on Close
		if !abstract {
			os.Remove(*path)
		}
		os.Exit(0)
	}()
	fmt.Printf("listening %s\n", *path)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				select {} // the signal goroutine is exiting the process
			}
			// EMFILE and similar: back off briefly, as net/http does.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go handle(conn)
	}
}
