package main

import "github.com/spf13/cobra"

func newSandboxCmd(*globalFlags) *cobra.Command { return &cobra.Command{Use: "sandbox"} }
