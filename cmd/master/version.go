package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/internal/version"
)

func newVersion() *cobra.Command {
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date, and Go and etcd client versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, _ := cmd.Flags().GetString("output")
			i := version.Get()
			switch format {
			case "json":
				b, err := json.Marshal(i)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
			case "text":
				fmt.Fprintf(cmd.OutOrStdout(), "master %s\ncommit      %s\nbuilt       %s\ngo          %s\netcd client %s\nplatform    %s\n",
					i.Version, i.Commit, i.BuildDate, i.GoVersion, i.EtcdClient, i.Platform)
			default:
				return usageError{fmt.Errorf("-o %q: use text or json", format)}
			}
			return nil
		},
	}
	c.Flags().StringP("output", "o", "text", "output format: text or json")
	return c
}
