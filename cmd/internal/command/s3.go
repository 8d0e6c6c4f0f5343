package command

import (
	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
)

// newS3Command is `berth s3`: S3-compatible object storage. `serve` is a server and lives in berthd (a stub
// here, see plugins); `user` and `account` are clients of the endpoint's IAM API.
func newS3Command(c *CLI) *cobra.Command {
	return cli.NewGroupCommand("s3", "Serve and manage S3-compatible object storage",
		newS3UserCommand(), newS3AccountCommand())
}
