module github.com/sparkgw/spark

go 1.26
